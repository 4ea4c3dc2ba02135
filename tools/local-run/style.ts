// Terminal styling for the local runner's output: ANSI colour only when writing to a terminal (and
// NO_COLOR is unset), so piped output and files stay plain text.

export type Colour = 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'dim' | 'bold';

const CODES: Record<Colour, [number, number]> = {
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  dim: [2, 22],
  bold: [1, 22],
};

export interface Style {
  readonly enabled: boolean;
  paint(colour: Colour, text: string): string;
}

export function createStyle(enabled: boolean): Style {
  return {
    enabled,
    paint: (colour, text) => {
      if (!enabled || text === '') return text;
      const [open, close] = CODES[colour];
      return `\u001b[${open}m${text}\u001b[${close}m`;
    },
  };
}

/** Colour for a TTY stdout unless NO_COLOR is set; FORCE_COLOR forces it on. */
export function styleFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): Style {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return createStyle(false);
  const force = env['FORCE_COLOR'];
  if (force !== undefined && force !== '' && force !== '0') return createStyle(true);
  return createStyle(stream.isTTY === true);
}

/** Milliseconds for humans: 0.42 ms, 12.3 ms, 1,234 ms. */
export function formatMs(ms: number): string {
  const abs = Math.abs(ms);
  if (abs < 10) return `${ms.toFixed(2)} ms`;
  if (abs < 1000) return `${ms.toFixed(1)} ms`;
  return `${Math.round(ms).toLocaleString('en-US')} ms`;
}
