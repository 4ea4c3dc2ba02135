// Out-of-memory signatures in function and platform log lines, for the log path to report an OOM
// through PlatformConverter.noteOutOfMemory (the platform records alone miss runtimes that die
// without Lambda classifying the error as Runtime.OutOfMemory).

const OOM_PATTERNS: readonly RegExp[] = [
  /JavaScript heap out of memory/, // Node.js
  /Reached heap limit/, // Node.js / V8
  /java\.lang\.OutOfMemoryError/, // JVM
  /\bMemoryError\b/, // Python
  /failed to allocate memory \(NoMemoryError\)/, // Ruby
  /fatal error: runtime: out of memory/, // Go
  /System\.OutOfMemoryException/, // .NET
  /Runtime\.OutOfMemory/, // Lambda's own classification, in platform lines
];

/** True when a log line is a runtime's out-of-memory report. Cheap on the common (no match) path. */
export function isOutOfMemoryLine(line: string): boolean {
  // Every signature contains "emory" or "OutOfMemory"; skip the regexes for ordinary lines.
  if (line.indexOf('emory') < 0 && line.indexOf('heap') < 0) return false;
  for (const re of OOM_PATTERNS) if (re.test(line)) return true;
  return false;
}
