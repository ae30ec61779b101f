/**
 * What the command writes depends on where stdout goes: colours and redrawn progress bars only on a terminal (and
 * no colours with NO_COLOR set), plain text in pipes and log files; a reader that closes the pipe early
 * (`realgen leaderboard --json | head`) ends the command quietly.
 */
import Table from 'cli-table3';

/** True when stdout is a terminal. */
export function stdoutIsTty(): boolean {
  return process.stdout.isTTY === true;
}

/** Colours only on a terminal and only without NO_COLOR (https://no-color.org: any non-empty value). */
export function useColor(): boolean {
  return stdoutIsTty() && !process.env.NO_COLOR;
}

/** A table with the house style: coloured header and borders on a terminal, plain characters elsewhere. */
export function makeTable(head: string[], options: { colWidths?: number[]; wordWrap?: boolean } = {}): Table.Table {
  return new Table({
    head,
    ...(options.colWidths ? { colWidths: options.colWidths } : {}),
    ...(options.wordWrap ? { wordWrap: true, wrapOnWordBoundary: false } : {}),
    ...(useColor() ? {} : { style: { head: [], border: [] } }),
  });
}

/** Exits 0 when the reader of stdout goes away (EPIPE) instead of dying with a stack trace. */
export function exitQuietlyOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}
