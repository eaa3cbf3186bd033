/** protolens library entry: everything a program needs, typed. */
export * from './util/errors.ts';
