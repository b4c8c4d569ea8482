// devcontainer.json -> template (issue 7): each mapping, each warning, the
// errors that say what to do instead (test catalogue C4: a spec Boxyard
// cannot honour is refused with a precise reason), and JSONC itself.
import { describe, expect, it } from "vitest";
import { convertDevcontainer, DevcontainerError, shellQuote, withDevcontainer } from "./devcontainer.ts";
import { JsoncError, parseJsonc, replaceTopLevelValue } from "./jsonc.ts";
import { TemplateSpec } from "./templates.ts";

const DIGEST = `sha256:${"ab".repeat(32)}`;
const conv = (o: Record<string, unknown>) => convertDevcontainer(JSON.stringify(o));
/** A devcontainer.json substitution, `${name}`, spelled out. */
const sub = (name: string) => `\${${name}}`;
const keys = (o: Record<string, unknown>) => conv(o).warnings.map((w) => w.key);

function refused(text: string): DevcontainerError {
  try {
    convertDevcontainer(text);
  } catch (err) {
    if (err instanceof DevcontainerError) return err;
    throw err;
  }
  throw new Error(`accepted: ${text}`);
}

describe("JSONC", () => {
  it("takes comments and trailing commas, and keeps each top-level value's span", () => {
    const text = `// a comment
{
  /* block */ "image": "./image.tar", // trailing
  "forwardPorts": [3000, 8080,],
  "url": "http://x/*not a comment*/", "s": "a\\"b",
}`;
    const doc = parseJsonc(text);
    expect(doc.value).toEqual({
      image: "./image.tar",
      forwardPorts: [3000, 8080],
      url: "http://x/*not a comment*/",
      s: 'a"b',
    });
    const replaced = replaceTopLevelValue(text, "image", DIGEST);
    expect(replaced).toContain(`/* block */ "image": "${DIGEST}", // trailing`);
    expect(parseJsonc(replaced).value).toMatchObject({ image: DIGEST, forwardPorts: [3000, 8080] });
  });

  it("says where the text is wrong, and never lets a key set the prototype", () => {
    for (const [text, where] of [
      ['{\n  "a": 1\n  "b": 2\n}', "line 3, column 3: expected , or }"],
      ['{"a": /* open', "line 1, column 7: unterminated /* comment"],
      ['{"a": tru}', "line 1, column 7"],
      ['{"a": 1} x', "unexpected text after the value"],
      ["[".repeat(100), "nested too deeply"],
    ] as const) {
      expect(() => parseJsonc(text), text).toThrow(JsoncError);
      expect(() => parseJsonc(text), text).toThrow(where);
    }
    const v = parseJsonc('{"__proto__": {"polluted": true}}').value as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(["__proto__"]);
  });
});

describe("devcontainer.json image", () => {
  it("maps an uploaded digest to image.oci and the Debian bookworm names to Boxyard's base", () => {
    expect(conv({ image: DIGEST }).image).toEqual({ oci: DIGEST });
    for (const name of [
      "debian:bookworm",
      "debian:bookworm-slim",
      "debian:12",
      "docker.io/library/debian:12.5-slim",
      "mcr.microsoft.com/devcontainers/base:bookworm",
      "mcr.microsoft.com/devcontainers/base:debian-12",
      "mcr.microsoft.com/devcontainers/base:1-bookworm",
      "mcr.microsoft.com/vscode/devcontainers/base:bookworm",
    ])
      expect(conv({ image: name }).image, name).toEqual({ base: "debian-bookworm" });
  });

  it("warns that a Microsoft base image's extras come with common-utils, unless it is there", () => {
    expect(conv({ image: "mcr.microsoft.com/devcontainers/base:bookworm" }).warnings).toEqual([
      { key: "image", message: expect.stringContaining("ghcr.io/devcontainers/features/common-utils") },
    ]);
    expect(conv({ image: "debian:bookworm" }).warnings).toEqual([]);
    const withUtils = conv({
      image: "mcr.microsoft.com/devcontainers/base:bookworm",
      features: { "ghcr.io/devcontainers/features/common-utils:2": {} },
    });
    expect(withUtils.warnings).toEqual([]);
    expect(withUtils.image).toMatchObject({ packages: expect.arrayContaining(["curl", "zsh"]) });
  });

  it("refuses registry images, archive paths, Dockerfile and Compose builds, saying what to do instead", () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ image: "node:20" }, "image", "docker save node:20 -o image.tar"],
      [{ image: "debian:trixie" }, "image", "registry image"],
      [{ image: "./image.tar" }, "image", "boxyard images push FILE"],
      [{ image: "/abs/image.tar.gz" }, "image", "boxyard templates push` uploads it"],
      [{}, "image", "is required"],
      [{ image: 7 }, "image", "must be a string"],
      [{ build: { dockerfile: "Dockerfile" } }, "build", "needs a Docker engine"],
      [{ image: "debian:bookworm", build: { dockerfile: "Dockerfile" } }, "build", "docker save"],
      [{ dockerFile: "Dockerfile" }, "dockerFile", "needs a Docker engine"],
      [{ dockerComposeFile: "compose.yml", service: "app" }, "dockerComposeFile", "Docker Compose"],
    ];
    for (const [o, key, says] of cases) {
      const err = refused(JSON.stringify(o));
      expect(err.key, JSON.stringify(o)).toBe(key);
      expect(err.message, JSON.stringify(o)).toContain(says);
    }
    expect(refused("[1]").message).toBe("must be a JSON object");
    expect(refused('{"image": "debian:bookworm",, }').message).toMatch(/^not valid JSON \(line 1, column/);
  });
});

describe("devcontainer.json features", () => {
  it("installs the features Debian packages, once each, in order", () => {
    const r = conv({
      image: "debian:bookworm",
      features: {
        "ghcr.io/devcontainers/features/python:1": {},
        "ghcr.io/devcontainers/features/node:1": "lts",
        "ghcr.io/devcontainers/features/git:1": { version: "latest" },
        "ghcr.io/devcontainers/features/go@sha256:0000000000000000000000000000000000000000000000000000000000000000":
          {},
        "ghcr.io/devcontainers/features/rust": { version: "1.63" },
        "ghcr.io/devcontainers/features/java:1": { version: "17" },
        "ghcr.io/devcontainers/features/github-cli:1": {},
        "ghcr.io/devcontainers/features/git-lfs:1": {},
        "ghcr.io/devcontainers/features/ruby:1": "os-provided",
        "ghcr.io/devcontainers/features/php:1": {},
      },
    });
    expect(r.warnings).toEqual([]);
    expect(r.image).toEqual({
      base: "debian-bookworm",
      packages: [
        "python3",
        "python3-pip",
        "python3-venv",
        "nodejs",
        "npm",
        "git",
        "golang",
        "rustc",
        "cargo",
        "default-jdk-headless",
        "gh",
        "git-lfs",
        "ruby-full",
        "php-cli",
      ],
    });
    // The packages are valid Debian names for the template spec.
    expect(TemplateSpec.safeParse({ image: r.image }).success).toBe(true);
  });

  it("warns for features that are not packages, versions Debian lacks, options it cannot apply, and an imported image", () => {
    const r = conv({
      image: "debian:bookworm",
      features: {
        "ghcr.io/devcontainers/features/docker-in-docker:2": {},
        "ghcr.io/devcontainers-contrib/features/poetry:2": {},
        "ghcr.io/devcontainers/features/python:1": { version: "3.12", installTools: true },
        "ghcr.io/devcontainers/features/node:1": { version: "none" },
      },
    });
    expect(r.warnings).toEqual([
      {
        key: "features.ghcr.io/devcontainers/features/docker-in-docker:2",
        message: expect.stringContaining("not installed: only these features are"),
      },
      {
        key: "features.ghcr.io/devcontainers-contrib/features/poetry:2",
        message: expect.stringContaining("not installed"),
      },
      {
        key: "features.ghcr.io/devcontainers/features/python:1.version",
        message: "3.12 is not available; Debian bookworm's 3.11 is installed",
      },
      {
        key: "features.ghcr.io/devcontainers/features/python:1",
        message: "installed from Debian's packages; option(s) not applied: installTools",
      },
    ]);
    expect(r.image).toEqual({
      base: "debian-bookworm",
      packages: ["python3", "python3-pip", "python3-venv"],
    });
    const imported = conv({ image: DIGEST, features: { "ghcr.io/devcontainers/features/git:1": {} } });
    expect(imported.image).toEqual({ oci: DIGEST });
    expect(imported.warnings).toEqual([
      {
        key: "features.ghcr.io/devcontainers/features/git:1",
        message: expect.stringContaining("imported image"),
      },
    ]);
    expect(refused('{"image": "debian:bookworm", "features": ["git"]}').key).toBe("features");
  });
});

describe("devcontainer.json commands", () => {
  it("maps onCreate, updateContent and postCreate to init in order, postStart to onStart; all three forms", () => {
    const r = conv({
      image: "debian:bookworm",
      onCreateCommand: "make deps",
      updateContentCommand: ["npm", "ci", "--prefix", "web app"],
      postCreateCommand: { db: "make db", seed: ["sh", "-c", "echo 'it''s' > seed"] },
      postStartCommand: "make serve &",
    });
    expect(r.init).toEqual([
      "make deps",
      "npm ci --prefix 'web app'",
      "make db",
      `sh -c 'echo '\\''it'\\'''\\''s'\\'' > seed'`,
    ]);
    expect(r.onStart).toEqual(["make serve &"]);
    expect(r.warnings).toEqual([]);
    expect(
      conv({ image: "debian:bookworm", postCreateCommand: "", postStartCommand: [] }),
    ).not.toHaveProperty("init");
    expect(refused('{"image": "debian:bookworm", "postStartCommand": 5}').key).toBe("postStartCommand");
    expect(refused('{"image": "debian:bookworm", "postCreateCommand": {"a": [1]}}').key).toBe(
      "postCreateCommand.a",
    );
  });

  it("quotes exec-form arguments for sh", () => {
    expect(shellQuote("plain-arg_1.2/x=y")).toBe("plain-arg_1.2/x=y");
    expect(shellQuote("two words")).toBe("'two words'");
    expect(shellQuote("$HOME")).toBe("'$HOME'");
    expect(shellQuote("")).toBe("''");
  });

  it("warns for postAttachCommand and initializeCommand (never run)", () => {
    expect(
      conv({ image: "debian:bookworm", postAttachCommand: "x", initializeCommand: "y" }).warnings,
    ).toEqual([
      { key: "postAttachCommand", message: expect.stringContaining("use postStartCommand") },
      { key: "initializeCommand", message: expect.stringContaining("runs nothing outside the box") },
    ]);
  });
});

describe("devcontainer.json ports", () => {
  it("maps forwardPorts to ports, names them from portsAttributes labels, and warns for what it cannot", () => {
    const r = conv({
      image: "debian:bookworm",
      forwardPorts: [3000, "8080", "db:5432", 3000, 9229],
      portsAttributes: {
        "3000": { label: "Web App!", onAutoForward: "notify" },
        "8080": { label: "web app" },
        "5000": { label: "other" },
        "40000-55000": { onAutoForward: "ignore" },
      },
    });
    expect(r.ports).toEqual([
      { port: 3000, name: "web-app" },
      { port: 8080, name: "web-app-8080" },
      { port: 9229 },
    ]);
    expect(r.warnings).toEqual([
      { key: "forwardPorts.2", message: expect.stringContaining("db:5432 is a port of another host") },
      { key: "portsAttributes.3000", message: "not applied: onAutoForward (only label, as the port's name)" },
      {
        key: "portsAttributes.5000",
        message: expect.stringContaining("only to a port listed in forwardPorts"),
      },
      { key: "portsAttributes.40000-55000", message: expect.stringContaining("forwardPorts") },
    ]);
    expect(TemplateSpec.safeParse({ image: r.image, ports: r.ports }).success).toBe(true);
    for (const [bad, key] of [
      ["[0]", "forwardPorts.0"],
      ["[70000]", "forwardPorts.0"],
      ['[80, "not a port"]', "forwardPorts.1"],
      ['"3000"', "forwardPorts"],
    ])
      expect(refused(`{"image": "debian:bookworm", "forwardPorts": ${bad}}`).key, bad).toBe(key);
  });
});

describe("devcontainer.json environment and user", () => {
  it("maps containerEnv and remoteEnv to env, remoteEnv winning and null unsetting", () => {
    const r = conv({
      image: "debian:bookworm",
      containerEnv: { A: "1", B: "2", WS: `${sub("containerWorkspaceFolder")}/src` },
      remoteEnv: { B: "two", A: null, NAME: `${sub("containerWorkspaceFolderBasename")}` },
    });
    expect(r.env).toEqual({ B: "two", WS: "/workspace/src", NAME: "workspace" });
    expect(r.warnings).toEqual([]);
  });

  it("leaves out a variable with a substitution it cannot honour, with a warning", () => {
    const r = conv({
      image: "debian:bookworm",
      containerEnv: { TOKEN: `${sub("localEnv:GITHUB_TOKEN")}`, KEEP: "x" },
      remoteEnv: { PATH: `${sub("containerEnv:PATH")}:/opt/bin` },
    });
    expect(r.env).toEqual({ KEEP: "x" });
    expect(r.warnings).toEqual([
      {
        key: "containerEnv.TOKEN",
        message: expect.stringContaining(`${sub("localEnv:GITHUB_TOKEN")} cannot be honoured`),
      },
      { key: "remoteEnv.PATH", message: expect.stringContaining(`${sub("containerEnv:PATH")}`) },
    ]);
    expect(refused('{"image": "debian:bookworm", "containerEnv": {"MY-VAR": "x"}}').key).toBe(
      "containerEnv.MY-VAR",
    );
    expect(refused('{"image": "debian:bookworm", "remoteEnv": {"N": 5}}').key).toBe("remoteEnv.N");
  });

  it("warns for a remoteUser or containerUser other than dev", () => {
    expect(keys({ image: "debian:bookworm", remoteUser: "dev" })).toEqual([]);
    expect(conv({ image: "debian:bookworm", remoteUser: "vscode", containerUser: "root" }).warnings).toEqual([
      { key: "remoteUser", message: expect.stringContaining("the box user is always dev (uid 1000") },
      { key: "containerUser", message: expect.stringContaining('"root" is not used') },
    ]);
  });
});

describe("devcontainer.json other keys", () => {
  it("gives one warning per key it does not map, naming it", () => {
    const r = conv({
      name: "My project",
      image: "debian:bookworm",
      customizations: { vscode: { extensions: ["ms-python.python"] } },
      runArgs: ["--privileged"],
      mounts: [],
      hostRequirements: { cpus: 4 },
      somethingNew: true,
    });
    expect(r.warnings.map((w) => w.key)).toEqual([
      "name",
      "customizations",
      "runArgs",
      "mounts",
      "hostRequirements",
      "somethingNew",
    ]);
    expect(r.warnings.at(-1)?.message).toBe("not supported by Boxyard; ignored");
  });

  it("treats names of Object's own properties as plain keys", () => {
    const r = conv({
      image: "debian:bookworm",
      features: { "ghcr.io/devcontainers/features/constructor:1": {} },
      containerEnv: JSON.parse(`{"A": "${sub("toString")}", "__proto__": "kept"}`),
      toString: 1,
      constructor: 2,
    });
    expect(r.image).toEqual({ base: "debian-bookworm" });
    expect(Object.entries(r.env ?? {})).toEqual([["__proto__", "kept"]]);
    expect(r.warnings.map((w) => [w.key, typeof w.message])).toEqual([
      ["features.ghcr.io/devcontainers/features/constructor:1", "string"],
      ["containerEnv.A", "string"],
      ["toString", "string"],
      ["constructor", "string"],
    ]);
    expect(r.warnings.at(-1)?.message).toBe("not supported by Boxyard; ignored");
  });
});

describe("a template with a devcontainer.json", () => {
  it("keeps the template's own fields, its env and ports winning and its commands running after the file's", () => {
    const d = conv({
      image: "debian:bookworm",
      postCreateCommand: "from-file",
      postStartCommand: "start-from-file",
      containerEnv: { A: "file", B: "file" },
      forwardPorts: [3000, 8080],
      portsAttributes: { "3000": { label: "app" } },
    });
    const spec = withDevcontainer(
      {
        resources: { cpu: 2 },
        init: ["from-template"],
        env: { B: "template" },
        ports: [{ port: 3000, name: "web" }, { port: 5000 }],
      },
      d,
    );
    expect(spec).toEqual({
      image: { base: "debian-bookworm" },
      resources: { cpu: 2 },
      init: ["from-file", "from-template"],
      onStart: ["start-from-file"],
      env: { A: "file", B: "template" },
      ports: [{ port: 3000, name: "web" }, { port: 5000 }, { port: 8080 }],
    });
    expect(TemplateSpec.safeParse(spec).success).toBe(true);
  });
});

describe("template ports", () => {
  it("are validated: 1-65535, unique ports and names, the name format", () => {
    const ok = TemplateSpec.safeParse({
      image: { base: "busybox" },
      ports: [{ port: 8080, name: "web" }, { port: 22 }],
    });
    expect(ok.success).toBe(true);
    for (const [ports, path, message] of [
      [[{ port: 0 }], "ports.0.port", "must be 1-65535"],
      [[{ port: 65536 }], "ports.0.port", "must be 1-65535"],
      [[{ port: 80.5 }], "ports.0.port", "must be a port number"],
      [[{ port: 80 }, { port: 80 }], "ports", "must not repeat a port"],
      [
        [
          { port: 80, name: "a" },
          { port: 81, name: "a" },
        ],
        "ports",
        "must not repeat a name",
      ],
      [[{ port: 80, name: "Web" }], "ports.0.name", "lower-case letters"],
      [[{ port: 80, name: "../x" }], "ports.0.name", "lower-case letters"],
      [[{ port: 80, name: "-web" }], "ports.0.name", "lower-case letters"],
      [[{ port: 80, name: "a".repeat(64) }], "ports.0.name", "lower-case letters"],
      [[{ port: 80, label: "x" }], "ports.0", "Unrecognized key"],
    ] as const) {
      const r = TemplateSpec.safeParse({ image: { base: "busybox" }, ports });
      expect(r.success, JSON.stringify(ports)).toBe(false);
      const issue = r.error!.issues[0]!;
      expect(issue.path.join("."), JSON.stringify(ports)).toBe(path);
      expect(issue.message, JSON.stringify(ports)).toContain(message);
    }
  });
});
