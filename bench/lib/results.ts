/** One row of the bench's table: a figure, ours against a baseline, the target and whether it was met. */
export interface Row {
  figure: string;
  ours: number | null;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
  note?: string;
}
