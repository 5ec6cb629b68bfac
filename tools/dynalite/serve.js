#!/usr/bin/env node
// Starts dynalite as its cli.js does, but keeps it alive when a client hangs
// up mid-request: dynalite 4.0.0 rethrows the request's 'aborted' error
// (req.on('error', throw) in index.js), which kills the whole server, where
// DynamoDB itself just drops that one request. Tests that cancel a run
// (Ctrl-C, first error) hang up mid-request by design.
process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.message === 'aborted')) {
    console.error('dynalite: a client hung up mid-request (%s); request dropped', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
require('dynalite/cli.js')
