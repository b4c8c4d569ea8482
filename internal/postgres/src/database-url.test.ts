import { describe, expect, it } from "vitest";
import { parseDatabaseUrl, socketUrl, tcpUrl, withDatabase } from "./database-url.ts";

describe("database URLs", () => {
  it("round-trips a unix socket URL", () => {
    const url = socketUrl({
      user: "postgres",
      password: "p@ss/w:rd",
      database: "boxyard",
      socketDir: "/d/pg/run",
    });
    expect(url).toBe("postgres://postgres:p%40ss%2Fw%3Ard@/boxyard?host=%2Fd%2Fpg%2Frun");
    expect(parseDatabaseUrl(url)).toEqual({
      user: "postgres",
      password: "p@ss/w:rd",
      database: "boxyard",
      host: "/d/pg/run",
      port: 5432,
    });
  });

  it("parses a TCP URL", () => {
    const url = tcpUrl({ user: "u", password: "p", database: "db", host: "127.0.0.1", port: 6543 });
    expect(parseDatabaseUrl(url)).toEqual({
      user: "u",
      password: "p",
      database: "db",
      host: "127.0.0.1",
      port: 6543,
    });
  });

  it("swaps only the database", () => {
    expect(withDatabase("postgres://u:p@/postgres?host=%2Frun", "t1")).toBe("postgres://u:p@/t1?host=%2Frun");
    expect(withDatabase("postgres://u:p@db.example:5433/postgres?sslmode=require", "t1")).toBe(
      "postgres://u:p@db.example:5433/t1?sslmode=require",
    );
  });

  it("rejects other schemes", () => {
    expect(() => parseDatabaseUrl("mysql://u@h/db")).toThrow(/postgres:\/\//);
  });
});
