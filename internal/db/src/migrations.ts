import m0001 from "../migrations/0001_identity.sql?raw";
import m0002 from "../migrations/0002_boxes.sql?raw";
import m0003 from "../migrations/0003_access.sql?raw";
import m0004 from "../migrations/0004_audit.sql?raw";
import m0005 from "../migrations/0005_quotas.sql?raw";
import m0006 from "../migrations/0006_gateways.sql?raw";
import m0007 from "../migrations/0007_node_commands.sql?raw";
import m0008 from "../migrations/0008_pause_mode.sql?raw";
import m0009 from "../migrations/0009_box_ports.sql?raw";
import m0010 from "../migrations/0010_teams.sql?raw";
import m0011 from "../migrations/0011_templates.sql?raw";
import m0012 from "../migrations/0012_template_builds.sql?raw";
import m0013 from "../migrations/0013_warm_pools.sql?raw";
import m0014 from "../migrations/0014_secrets.sql?raw";
import m0015 from "../migrations/0015_box_oom.sql?raw";
import m0016 from "../migrations/0016_box_history.sql?raw";
import m0017 from "../migrations/0017_prebuilds.sql?raw";
import m0018 from "../migrations/0018_template_source.sql?raw";
import m0019 from "../migrations/0019_box_env.sql?raw";
import m0020 from "../migrations/0020_box_created_ms.sql?raw";

export interface Migration {
  /** Contiguous from 1; the file is migrations/NNNN_name.sql. */
  id: number;
  name: string;
  sql: string;
}

/**
 * Every migration, in order. Forward-only: an applied migration is never
 * edited (its checksum is checked at start) and never rolled back in
 * production; a change is a new migration. A test checks this list against
 * the files in migrations/.
 */
export const migrations: readonly Migration[] = [
  { id: 1, name: "identity", sql: m0001 },
  { id: 2, name: "boxes", sql: m0002 },
  { id: 3, name: "access", sql: m0003 },
  { id: 4, name: "audit", sql: m0004 },
  { id: 5, name: "quotas", sql: m0005 },
  { id: 6, name: "gateways", sql: m0006 },
  { id: 7, name: "node_commands", sql: m0007 },
  { id: 8, name: "pause_mode", sql: m0008 },
  { id: 9, name: "box_ports", sql: m0009 },
  { id: 10, name: "teams", sql: m0010 },
  { id: 11, name: "templates", sql: m0011 },
  { id: 12, name: "template_builds", sql: m0012 },
  { id: 13, name: "warm_pools", sql: m0013 },
  { id: 14, name: "secrets", sql: m0014 },
  { id: 15, name: "box_oom", sql: m0015 },
  { id: 16, name: "box_history", sql: m0016 },
  { id: 17, name: "prebuilds", sql: m0017 },
  { id: 18, name: "template_source", sql: m0018 },
  { id: 19, name: "box_env", sql: m0019 },
  { id: 20, name: "box_created_ms", sql: m0020 },
];
