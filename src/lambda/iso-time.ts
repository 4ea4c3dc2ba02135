// ISO-8601 date-times of the Telemetry API to epoch milliseconds, without Date parsing on the common
// path: it runs for every record's time, every span start and every JSON log line's timestamp.

// Sub-millisecond digits are kept. Consecutive records almost always share the same second, so the
// date/time part is cached for one entry.
let cachedSecondPrefix = '';
let cachedSecondMs = 0;

function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : Number.NaN;
}

function two(s: string, i: number): number {
  return digit(s, i) * 10 + digit(s, i + 1);
}

/** Epoch milliseconds (fractional below 1 ms) or NaN when the text is not a date-time. */
export function parseIsoTimeMs(s: string): number {
  const n = s.length;
  if (
    n >= 20 &&
    s.charCodeAt(4) === 45 && // -
    s.charCodeAt(7) === 45 &&
    s.charCodeAt(10) === 84 && // T
    s.charCodeAt(13) === 58 && // :
    s.charCodeAt(16) === 58
  ) {
    let base: number;
    if (cachedSecondPrefix !== '' && s.startsWith(cachedSecondPrefix)) {
      base = cachedSecondMs;
    } else {
      const year = two(s, 0) * 100 + two(s, 2);
      const month = two(s, 5);
      const day = two(s, 8);
      const hour = two(s, 11);
      const minute = two(s, 14);
      const second = two(s, 17);
      if (
        !(month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && second <= 60)
      ) {
        return Date.parse(s);
      }
      base = Date.UTC(year, month - 1, day, hour, minute, second);
      if (year < 100) base = new Date(base).setUTCFullYear(year);
      cachedSecondPrefix = s.slice(0, 19);
      cachedSecondMs = base;
    }
    let i = 19;
    let fraction = 0;
    if (s.charCodeAt(i) === 46 /* . */) {
      i++;
      const start = i;
      let units = 0;
      let digits = 0;
      for (; i < n; i++) {
        const d = s.charCodeAt(i) - 48;
        if (d < 0 || d > 9) break;
        // Beyond nanoseconds the digits cannot change an epoch-ms double.
        if (digits < 9) {
          units = units * 10 + d;
          digits++;
        }
      }
      if (i === start) return Number.NaN;
      fraction = digits === 3 ? units : units / 10 ** (digits - 3);
    }
    const z = s.charCodeAt(i);
    if (z === 90 /* Z */ && i + 1 === n) return base + fraction;
    if ((z === 43 /* + */ || z === 45) /* - */ && i + 6 === n && s.charCodeAt(i + 3) === 58) {
      const offset = (two(s, i + 1) * 60 + two(s, i + 4)) * 60000;
      if (Number.isNaN(offset)) return Number.NaN;
      return base + fraction + (z === 43 ? -offset : offset);
    }
  }
  // Anything unusual (no seconds, lowercase, basic format, no zone): the engine's parser decides.
  return Date.parse(s);
}
