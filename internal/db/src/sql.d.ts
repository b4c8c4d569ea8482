// Migrations are plain .sql files imported as text (`?raw`): vite resolves
// this in tests and the esbuild bundle step does the same for the binary.
declare module "*.sql?raw" {
  const sql: string;
  export default sql;
}
