/**
 * The reference for the throughput benchmark: a raw node:http server that only reads the body,
 * JSON.parses it and counts the samples (the ceiling any JSON ingest can reach on this machine).
 * Prints `listening <port>` on stdout.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (d: Buffer) => chunks.push(d));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { samples: unknown[] };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"accepted":${body.samples.length},"duplicates":0,"rejected":[]}`);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
