// Lint policy: typescript-eslint's type-checked rules, plus the module boundaries of
// ../shared/design/style.md (each src/ folder is imported only through its index.ts; pure
// modules never touch I/O). test/architecture.test.ts checks the same boundaries and cycles.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const pureForbidden = [
  {
    group: ['node:*', 'fs', 'path', 'http', 'net', 'worker_threads', 'child_process'],
    message: 'pure module: no I/O',
  },
  {
    group: ['kafkajs', 'fastify', 'pino', 'nodemailer', 'prom-client'],
    message: 'pure module: no I/O libraries',
  },
];
const crossModule = (self) =>
  ['ingest', 'detectors', 'prophet', 'keyed-runtime', 'alerts']
    .filter((m) => m !== self)
    .map((m) => ({
      group: [`../${m}/*`, `../../${m}/*`],
      message: `${self} must not import ${m} (only the wiring layer src/app and src/operators may combine modules)`,
    }));

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      '.kafka/**',
      'state/**',
      'bench/out/**',
      'test-artifacts/**',
      'coverage/**',
      'src/app/console/vendor/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': 'error',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: {
      globals: { console: 'readonly', process: 'readonly', URL: 'readonly', setTimeout: 'readonly' },
    },
    rules: { 'no-console': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'src/**/*.test.ts', 'src/app/cli.ts', 'scripts/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  {
    files: ['src/detectors/**/*.ts', 'src/prophet/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...pureForbidden,
            ...crossModule('detectors').filter((p) => !p.group[0].includes('prophet')),
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'pure module: pass a seeded PRNG' },
        { object: 'Date', property: 'now', message: 'pure module: no clock' },
        { object: 'process', property: 'env', message: 'pure module: no env' },
      ],
      'no-restricted-globals': ['error', 'console', 'process'],
    },
  },
  ...['ingest', 'keyed-runtime', 'alerts'].map((m) => ({
    files: [`src/${m}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns: crossModule(m) }] },
  })),
);
