// How each tool's entry file runs its main(argv): exit with its code; an unexpected failure prints its stack.

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
