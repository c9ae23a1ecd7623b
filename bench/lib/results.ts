import type { RowId } from "../targets";

/** One row of the bench's table: a figure, ours against a baseline, the target and whether it was met. */
export interface Row {
  figure: string;
  ours: number | null;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  target: string;
  met: boolean | null;
  note?: string | undefined;
}

/** What a phase measured for one row; the report adds the row's target (bench/targets.ts) and whether it was met. */
export interface Figures {
  figure: string;
  ours: number | null;
  baseline: number | null;
  unit: string;
  ratio: number | null;
  note?: string | undefined;
  /** False when the run behind the figure was incomplete (deliveries missing, sends failed): the target is not met, whatever the figure. */
  valid?: boolean;
  /** What a target reads besides ours, baseline and ratio (the send-buffer cut: the bound and the time since crossing it). */
  facts?: Record<string, number | null>;
}

/** The row sink a phase writes to: a row id of bench/targets.ts and what was measured. */
export type RowSink = (id: RowId, figures: Figures) => void;
