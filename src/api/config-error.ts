/** A configuration value that cannot be used: one line naming the variable and what to set. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Reads one environment variable; empty values count as unset. */
export type Getter = (name: string) => string | undefined;
