// Where a box's /workspace came from: the repository (url, ref, the commit
// the node checked out) and the prebuild it started from, with a link to it.
// When the node brought the checkout forward past the prebuild's commit (the
// ref moved after the prebuild), the page says so: the init commands ran on
// the older commit, and a new prebuild would catch up.
import type { BoxT } from "./api.ts";
import { Link } from "./router.tsx";
import { prebuildPath, shortCommit } from "./template-prebuilds.tsx";

/** The prebuild's commit when the box's checkout is past it, else null. */
export function stalePrebuild(box: Pick<BoxT, "repo" | "prebuild">): string | null {
  const from = box.prebuild?.commit;
  const now = box.repo?.commit;
  return from && now && from !== now ? from : null;
}

export function BoxSource(props: { box: BoxT }) {
  const { box } = props;
  const repo = box.repo ?? null;
  const pb = box.prebuild ?? null;
  const stale = stalePrebuild(box);
  return (
    <section className="panel" aria-labelledby="source-title" data-box-source="">
      <h2 id="source-title">Repository and prebuild</h2>
      <dl className="details">
        <dt>Repository</dt>
        <dd className="wrap">{repo ? <code>{repo.url}</code> : "None: the template checks nothing out"}</dd>
        {repo ? (
          <>
            <dt>Ref</dt>
            <dd>{repo.ref ? <code>{repo.ref}</code> : "the default branch"}</dd>
            <dt>Commit</dt>
            <dd data-repo-commit="">
              {repo.commit ? (
                <code title={repo.commit}>{shortCommit(repo.commit)}</code>
              ) : (
                "not checked out yet"
              )}
            </dd>
          </>
        ) : null}
        <dt>Prebuild</dt>
        <dd data-prebuild-of-box={pb?.id ?? ""}>
          {pb ? (
            <>
              <Link
                to={prebuildPath(box.org, box.template, pb.id)}
                aria-label={`Prebuild ${pb.id} of ${box.template}`}
              >
                <code>{pb.id}</code>
              </Link>
              {pb.commit ? (
                <>
                  {" "}
                  at <code title={pb.commit}>{shortCommit(pb.commit)}</code>
                </>
              ) : null}
            </>
          ) : (
            "None: the box was made from the template's image alone"
          )}
        </dd>
      </dl>
      {stale && repo?.commit ? (
        <p className="stale-prebuild" data-stale-prebuild="">
          <strong>Stale prebuild:</strong> it holds commit <code>{shortCommit(stale)}</code>, and the checkout
          was brought forward to <code>{shortCommit(repo.commit)}</code> when the box was made. The init
          commands ran on the older commit; a new prebuild of {box.template} catches up.
        </p>
      ) : null}
    </section>
  );
}
