import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand, intOption, numberOption, oneOfOption, type CommandSpec } from '../../src/cli/args.ts';
import { InputError, UsageError } from '../../src/util/errors.ts';
import { checkedChoice, checkedInteger, checkedNumber, optional } from '../../src/util/options.ts';

test('integers: the range is inclusive; fractions, NaN, infinities, strings and booleans are refused, naming the option', () => {
  assert.equal(checkedInteger('option k', 1, 1), 1);
  assert.equal(checkedInteger('size', 1024, 32, 1024), 1024);
  for (const bad of [0, 2.5, NaN, Infinity, -Infinity, '3', true, null]) {
    assert.throws(() => checkedInteger('option k', bad, 1), (e) => e instanceof InputError && /^option k: expected an integer >= 1, got /.test((e as Error).message), String(bad));
  }
  assert.throws(() => checkedInteger('size', 1025, 32, 1024), /size: expected an integer from 32 to 1024, got 1025/);
  assert.throws(() => checkedInteger('--k', NaN, 1, Infinity, UsageError), (e) => e instanceof UsageError && /got NaN/.test((e as Error).message));
});

test('numbers: finite only, bounds inclusive unless exclusiveMin, the message states the range', () => {
  assert.equal(checkedNumber('p', 0, { min: 0, max: 100 }), 0);
  assert.equal(checkedNumber('p', 100, { min: 0, max: 100 }), 100);
  assert.throws(() => checkedNumber('p', 100.5, { min: 0, max: 100 }), /p: expected a finite number from 0 to 100, got 100.5/);
  assert.throws(() => checkedNumber('tol', 0, { min: 0, exclusiveMin: true }), /tol: expected a finite number > 0, got 0/);
  assert.throws(() => checkedNumber('t', NaN, { min: 0 }), /t: expected a finite number >= 0, got NaN/);
  assert.throws(() => checkedNumber('t', Infinity), /t: expected a finite number, got Infinity/);
  assert.throws(() => checkedNumber('s', 0.01, { min: 0.01, exclusiveMin: true, max: 1 }), /s: expected a finite number > 0.01 and <= 1/);
});

test('choices and optional values', () => {
  assert.equal(checkedChoice('option preset', 'paper', ['paper', 'default'] as const), 'paper');
  assert.throws(() => checkedChoice('option preset', 'fast', ['paper', 'default']), /option preset: expected one of 'paper', 'default', got "fast"/);
  assert.equal(optional(undefined, 7, (x) => checkedInteger('n', x, 1)), 7);
  assert.equal(optional(null, null, (x) => checkedInteger('n', x, 1)), null);
  assert.throws(() => optional(0, 7, (x) => checkedInteger('n', x, 1)), /n: expected an integer >= 1, got 0/);
});

test('CLI options: decimal integers only, finite numbers, one of the choices; usage errors name the flag', () => {
  const spec: CommandSpec = { name: 'x', summary: '', usage: 'x', options: { k: { type: 'string', description: '' }, t: { type: 'string', description: '' }, m: { type: 'string', description: '' } } };
  const v = (argv: string[]) => parseCommand(spec, argv).values;
  assert.equal(intOption(v(['--k', '12']), 'k'), 12);
  assert.equal(intOption(v([]), 'k'), undefined);
  for (const bad of ['0x3', '1e3', '3.0', '', ' ', 'three']) assert.throws(() => intOption(v(['--k', bad]), 'k'), (e) => e instanceof UsageError && new RegExp(`--k: expected an integer >= 1, got '${bad}'`).test((e as Error).message), bad);
  assert.throws(() => intOption(v(['--k', '0']), 'k'), /--k: expected an integer >= 1, got 0/);
  assert.equal(numberOption(v(['--t', '0.5']), 't', { min: 0, max: 1 }), 0.5);
  for (const bad of ['', 'NaN', 'Infinity', '2']) assert.throws(() => numberOption(v(['--t', bad]), 't', { min: 0, max: 1 }), (e) => e instanceof UsageError && /--t: expected a finite number from 0 to 1/.test((e as Error).message), bad);
  assert.equal(oneOfOption(v(['--m', 'all']), 'm', ['all', 'top']), 'all');
  assert.throws(() => oneOfOption(v(['--m', 'some']), 'm', ['all', 'top']), /--m: expected one of all, top, got 'some'/);
});

test('command lines: an option given twice, a detached negative value and an unknown option are usage errors saying what to do', () => {
  const spec: CommandSpec = { name: 'build', summary: '', usage: 'build', options: { k: { type: 'string', description: '' }, tag: { type: 'string', multiple: true, description: '' }, quiet: { type: 'boolean', description: '' } } };
  const refused = (argv: string[], re: RegExp) =>
    assert.throws(() => parseCommand(spec, argv), (e) => e instanceof UsageError && re.test((e as Error).message) && /Run 'protolens build --help'/.test((e as Error).message) && !/build: build:/.test((e as Error).message), argv.join(' '));
  refused(['--k', '3', '--k', '4'], /^--k is given more than once; give it once/);
  refused(['--k=3', '--k=4'], /^--k is given more than once/);
  refused(['--quiet', '--quiet'], /^--quiet is given more than once/);
  refused(['--k', '-3'], /^--k: a value starting with '-' must be attached, as --k=-3/);
  refused(['--frob'], /^unknown option '--frob'/);
  refused(['--kk', '3'], /^unknown option '--kk'; did you mean --k\?/);
  refused(['--k'], /^--k: expected a value after it/);
  assert.equal(parseCommand(spec, ['--k=-3']).values.k, '-3');
  assert.deepEqual(parseCommand(spec, ['--tag', 'a', '--tag', 'b']).values.tag, ['a', 'b']);
});
