import { listBoxPorts, setBoxPort } from "@boxyard/contract";
import { type BoxPortRow, inTx } from "@boxyard/db";
import { auditFor } from "./audit.ts";
import { authorizeBox } from "./boxes.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

function portView(
  org: string,
  box: string,
  p: Pick<BoxPortRow, "port" | "label"> & { visibility: BoxPortRow["visibility"] | "private" },
) {
  return {
    port: p.port,
    visibility: p.visibility,
    label: p.label,
    previewPath: `/preview/${org}/${box}/${p.port}/`,
  };
}

export function registerPortRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(listBoxPorts, async (ctx) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "read");
    return {
      items: (await storeFor(deps, ctx.actor, ctx.signal).listBoxPorts(box.id)).map((p) =>
        portView(access.orgName, box.name, p),
      ),
    };
  });

  r.add(setBoxPort, async (ctx) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "share");
    const { port } = ctx.params;
    const label = ctx.body.label ?? "";
    await inTx(deps.pool, async (tx) => {
      const store = storeFor(deps, ctx.actor, ctx.signal).on(tx);
      if (ctx.body.visibility === "private") await store.deleteBoxPort(box.id, port);
      else await store.upsertBoxPort({ boxId: box.id, port, visibility: ctx.body.visibility, label });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "box.port.share",
        target: { kind: "box", id: box.id, name: box.name },
        result: "success",
        details: { port, visibility: ctx.body.visibility },
        at: deps.clock.now(),
      });
    });
    return portView(access.orgName, box.name, { port, visibility: ctx.body.visibility, label });
  });
}
