/** An injectable clock for the services' `now()`: tests move time on instead of sleeping. */
export interface TestClock {
  now: Date;
  advanceSeconds(seconds: number): void;
}

export function createTestClock(start: Date = new Date("2026-01-01T00:00:00Z")): TestClock {
  const clock: TestClock = {
    now: start,
    advanceSeconds(seconds) {
      clock.now = new Date(clock.now.getTime() + seconds * 1000);
    },
  };
  return clock;
}
