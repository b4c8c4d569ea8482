// A box's ports: the ones its template declares (listed from the start,
// private, with their names) and the ones someone shared. A declared port
// shared more widely shows its sharing; made private again, it stays listed.

import { listBoxPorts, setBoxPort, type TemplateSpec } from "@boxyard/contract";
import { type BoxPortRow, type BoxViewRow, inTx } from "@boxyard/db";
import type { AuthorizedStore } from "@boxyard/authz";
import { auditFor } from "./audit.ts";
import { authorizeBox } from "./boxes.ts";
import type { RouteRegistrar } from "./registrar.ts";
import { storeFor } from "./store.ts";

type Declared = NonNullable<TemplateSpec["ports"]>;

function portView(
  org: string,
  box: string,
  p: { port: number; visibility: BoxPortRow["visibility"] | "private"; label: string },
  declared: Declared,
) {
  const own = declared.find((d) => d.port === p.port);
  return {
    port: p.port,
    visibility: p.visibility,
    label: p.label || (own?.name ?? ""),
    declared: own !== undefined,
    previewPath: `/preview/${org}/${box}/${p.port}/`,
  };
}

/** The ports the box's template version declares (versions are immutable; built-in templates declare none). */
async function declaredPorts(store: AuthorizedStore, box: BoxViewRow): Promise<Declared> {
  const v = await store.getTemplateVersion(box.org_id, box.template, box.template_version);
  return v?.version === box.template_version ? ((v.spec as TemplateSpec).ports ?? []) : [];
}

export function registerPortRoutes(r: RouteRegistrar): void {
  const { deps } = r;

  r.add(listBoxPorts, async (ctx) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "read");
    const store = storeFor(deps, ctx.actor, ctx.signal);
    const declared = await declaredPorts(store, box);
    const shared = await store.listBoxPorts(box.id);
    const rows = [
      ...shared,
      ...declared
        .filter((d) => !shared.some((s) => s.port === d.port))
        .map((d) => ({ port: d.port, visibility: "private" as const, label: "" })),
    ].sort((a, b) => a.port - b.port);
    return { items: rows.map((p) => portView(access.orgName, box.name, p, declared)) };
  });

  r.add(setBoxPort, async (ctx) => {
    const { box, access } = await authorizeBox(deps, ctx.actor, ctx.params, "share");
    const { port } = ctx.params;
    const label = ctx.body.label ?? "";
    const store = storeFor(deps, ctx.actor, ctx.signal);
    await inTx(deps.pool, async (tx) => {
      if (ctx.body.visibility === "private") await store.on(tx).deleteBoxPort(box.id, port);
      else await store.on(tx).upsertBoxPort({ boxId: box.id, port, visibility: ctx.body.visibility, label });
      await auditFor(tx, ctx, {
        orgId: access.orgId,
        action: "box.port.share",
        target: { kind: "box", id: box.id, name: box.name },
        result: "success",
        details: { port, visibility: ctx.body.visibility },
        at: deps.clock.now(),
      });
    });
    return portView(
      access.orgName,
      box.name,
      { port, visibility: ctx.body.visibility, label },
      await declaredPorts(store, box),
    );
  });
}
