import { RECORD_FIELDS } from '@iotsim/core';

/** The CSV header row: RECORD_FIELDS in order. */
export const CSV_HEADER = `${RECORD_FIELDS.join(',')}\n`;
