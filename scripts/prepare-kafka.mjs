#!/usr/bin/env node
// Fetches the Apache Kafka broker's runtime jars for the integration tests, once per version.
//
//   node scripts/prepare-kafka.mjs            # version pinned in test/kafka/pom.xml (<kafka.version>)
//   VIGIL_KAFKA_VERSION=3.9.1 node scripts/prepare-kafka.mjs
//
// Maven copies org.apache.kafka:kafka_2.13:<version> and its runtime dependencies, plus the logging
// backend that version's distribution ships (log4j2 for 4.x, reload4j for 3.x), into
// .kafka/libs-<version>/. A marker file written last (.complete: version, logging, pom hash) makes
// the next run with the same version and pom a no-op,
// so `npm test` (which runs every scripts/prepare-*.mjs) stays fast. The jars are written to a temp
// dir and renamed into place, so an interrupted fetch never looks complete.
// test/support/kafka-broker.ts starts the broker from those jars (java -cp '.kafka/libs-<v>/*').
// Needs `java` (17+) always and `mvn` (3.8+) when fetching; Maven keeps its own cache in ~/.m2.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const t0 = Date.now();
const root = fileURLToPath(new URL('..', import.meta.url));
const pom = join(root, 'test', 'kafka', 'pom.xml');
const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pom, 'utf8'))?.[1];
const version = process.env.VIGIL_KAFKA_VERSION || pinned;
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(2)}s`;

function fail(message) {
  console.error(`prepare-kafka: ${message}`);
  process.exit(1);
}

/** True when an executable called `name` is on PATH (checked without spawning it: a JVM start costs ~0.3 s). */
function onPath(name) {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
  fail(`bad Kafka version ${JSON.stringify(version)} (VIGIL_KAFKA_VERSION or <kafka.version> in ${pom})`);
}
const logging = Number(version.split('.')[0]) >= 4 ? 'log4j2' : 'reload4j';
const libs = join(root, '.kafka', `libs-${version}`);
const marker = join(libs, '.complete');

if (!onPath('java')) fail('`java` (JDK 17+) is not on PATH; the Kafka test broker is a Java process.');

// The cache key is the version plus the pom's content (e.g. a changed log4j2.version refetches).
const pomHash = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 16);
const cached = existsSync(marker) ? JSON.parse(readFileSync(marker, 'utf8')) : undefined;
if (cached?.version === version && cached?.pom === pomHash) {
  const jars = readdirSync(libs).filter((f) => f.endsWith('.jar')).length;
  console.log(
    `prepare-kafka: Kafka ${version} cached in .kafka/libs-${version} (${jars} jars), ${elapsed()}`,
  );
  process.exit(0);
}

if (!onPath('mvn')) {
  fail(`\`mvn\` (Maven 3.8+) is not on PATH; it is needed once to fetch the Kafka ${version} jars.`);
}
console.log(`prepare-kafka: fetching Kafka ${version} (+${logging}) from Maven Central with mvn...`);
mkdirSync(join(root, '.kafka'), { recursive: true });
const tmp = mkdtempSync(join(root, '.kafka', `.libs-${version}-`));
const mvn = spawnSync(
  'mvn',
  [
    '-B',
    '-q',
    '-f',
    pom,
    // Fully qualified: Maven 3.8's default dependency plugin (2.8) is too old.
    'org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies',
    '-DincludeScope=runtime',
    `-Dkafka.version=${version}`,
    `-Dkafka.logging=${logging}`,
    `-DoutputDirectory=${tmp}`,
  ],
  { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 10 * 60_000 },
);
if (mvn.status !== 0) {
  // Maven 3.8 (Debian) emits ANSI resets even with -B; strip them from what we show.
  console.error(stripVTControlCharacters(`${mvn.stdout ?? ''}${mvn.stderr ?? ''}`));
  rmSync(tmp, { recursive: true, force: true });
  fail(`mvn failed (${mvn.error?.message ?? `exit ${mvn.status ?? mvn.signal}`}) after ${elapsed()}`);
}
const jars = readdirSync(tmp).filter((f) => f.endsWith('.jar'));
if (!jars.some((f) => f.startsWith(`kafka_2.13-${version}`))) {
  rmSync(tmp, { recursive: true, force: true });
  fail(`mvn succeeded but kafka_2.13-${version}.jar is missing from its output`);
}
writeFileSync(join(tmp, '.complete'), `${JSON.stringify({ version, logging, pom: pomHash })}\n`);
if (existsSync(marker) && JSON.parse(readFileSync(marker, 'utf8')).pom === pomHash) {
  // Another prepare finished first; its copy is as good as ours (and may be in use).
  rmSync(tmp, { recursive: true, force: true });
} else {
  rmSync(libs, { recursive: true, force: true }); // an interrupted fetch, or one from an older pom
  renameSync(tmp, libs);
}
const mb = jars.reduce((sum, f) => sum + statSync(join(libs, f)).size, 0) / 1e6;
console.log(
  `prepare-kafka: Kafka ${version} ready in .kafka/libs-${version} (${jars.length} jars, ${mb.toFixed(0)} MB), ${elapsed()}`,
);
