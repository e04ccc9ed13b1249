// ESLint flat config. Besides typescript-eslint's recommended rules it enforces the
// determinism boundary of architecture.md §2.10: the pure core (src/base, src/totem,
// src/services, src/asterisk/core/) may not reach Node, the clock, timers or
// unseeded randomness, and imports flow downward only.
const tseslint = require('typescript-eslint');

const coreFiles = ['src/base/**/*.ts', 'src/totem/**/*.ts', 'src/services/**/*.ts', 'src/asterisk/core/**/*.ts'];

const bannedGlobals = [
  'setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate',
  'queueMicrotask', 'Date', 'performance', 'process', 'Buffer', 'require',
].map((name) => ({ name, message: `${name} is banned in the deterministic core: take time as ticks and I/O as effects` }));

module.exports = tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.js'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'TSEnumDeclaration', message: 'use an `as const` object instead of enum' }],
    },
  },
  {
    files: coreFiles,
    rules: {
      'no-restricted-globals': ['error', ...bannedGlobals],
      'no-restricted-properties': ['error',
        { object: 'Math', property: 'random', message: 'use the injected Prng' },
        { object: 'crypto', property: 'randomBytes', message: 'use the injected Prng' },
        { object: 'crypto', property: 'getRandomValues', message: 'use the injected Prng' }],
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: '^node:', message: 'the core has no node:* imports' },
          { regex: '^(fs|net|dgram|os|path|child_process|crypto|timers|http|https|events|stream|util)$', message: 'the core has no Node imports' },
          { regex: '(^|/)(runtime|bin|cli|ipc)(/|$)', message: 'imports flow downward only: the core may not import the shell' },
        ],
      }],
    },
  },
  {
    files: ['src/base/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: '^node:', message: 'the core has no node:* imports' },
          { regex: '(^|/)(totem|services|asterisk|runtime|bin|cli|ipc)(/|$)', message: 'src/base imports nothing above it' },
        ],
      }],
    },
  },
  {
    files: ['src/totem/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: '^node:', message: 'the core has no node:* imports' },
          { regex: '(^|/)(services|asterisk|runtime|bin|cli|ipc)(/|$)', message: 'src/totem imports only src/base and itself' },
        ],
      }],
    },
  },
  {
    files: ['test/sim/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '(^|/)src/runtime(/|$)', message: 'the simulator never imports the runtime' }],
      }],
    },
  },
);
