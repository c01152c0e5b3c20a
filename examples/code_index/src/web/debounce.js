// Small helpers for UI events.

/**
 * Calls fn once, ms milliseconds after the last of a burst of calls.
 */
export function debounce(fn, ms) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), ms);
  };
}

/**
 * Calls fn at most once every ms milliseconds.
 */
export function throttle(fn, ms) {
  let last = 0;
  return function (...args) {
    const now = Date.now();
    if (now - last >= ms) {
      last = now;
      fn.apply(this, args);
    }
  };
}

export class EventLog {
  constructor(limit = 100) {
    this.limit = limit;
    this.events = [];
  }

  push(name, detail) {
    this.events.push({ name, detail, at: Date.now() });
    if (this.events.length > this.limit) {
      this.events.shift();
    }
  }

  last(n = 10) {
    return this.events.slice(-n);
  }
}
