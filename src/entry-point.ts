// Shared by the programs under src/ (the server and the tools): "am I the script node was started with?"
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** True when the module at `moduleUrl` (its import.meta.url) is the script node was asked to run. */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return moduleUrl === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

/**
 * Runs a tool's main(argv) and exits with its code; an unexpected failure prints its stack and exits 1.
 * `exit: false` only sets the exit code, for a tool that lets its children finish on their own.
 */
export function runTool(name: string, main: (argv: string[]) => Promise<number>, opts: { exit?: boolean } = {}): void {
  const done = (code: number): void => {
    if (opts.exit === false) process.exitCode = code;
    else process.exit(code);
  };
  main(process.argv.slice(2)).then(done, (err: unknown) => {
    process.stderr.write(`${name}: ${(err as Error)?.stack ?? String(err)}\n`);
    done(1);
  });
}
