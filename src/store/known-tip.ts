/**
 * The branch tip as this process last learned or made it, kept from going back in time.
 *
 * Lookups of the tip overlap with each other and with our pushes: a read's lookup sent before one of our
 * pushes was accepted may be answered after it, with the tip from before. So every event that tells us
 * about the tip takes a number from one counter: a lookup when it is sent, an accepted push when its
 * acceptance arrives, a forgetting (the tip may be wrong) when it happens. An answer replaces what is known
 * only if its lookup was numbered after the event that put it there: such a lookup reached the remote after
 * that event took effect there, so its answer is at least as new. Any other answer is dropped.
 */
export class KnownTip {
  /** The tip commit, null when the branch does not exist, undefined when not known. */
  #tip: string | null | undefined = undefined;
  /** The number of the event that set #tip. */
  #since = 0;
  #counter = 0;

  get value(): string | null | undefined {
    return this.#tip;
  }

  /** Numbers a lookup of the tip; call it before the lookup is sent and hand the number to answer(). */
  ask(): number {
    return ++this.#counter;
  }

  /** The answer to lookup `ticket`; returns whether it replaced the known tip (false: something newer is known). */
  answer(ticket: number, tip: string | null): boolean {
    if (ticket <= this.#since) return false;
    this.#tip = tip;
    this.#since = ticket;
    return true;
  }

  /** Our push that made `tip` was accepted: it is the tip now. Returns the event's number. */
  made(tip: string): number {
    this.#set(tip);
    return this.#since;
  }

  /** What is known may be wrong (a push refused or without an answer): the next write must look first. */
  forget(): void {
    this.#set(undefined);
  }

  #set(tip: string | null | undefined): void {
    this.#tip = tip;
    this.#since = ++this.#counter;
  }
}
