-- A file's rows into `incoming` (stage.sql), by binary COPY; the column types are
-- pipeline._COPY_TYPES, in this order.
COPY incoming (ord, record, client_uuid, entity_id, plot_id, commodity, input_x, input_y,
               collected_at, accuracy_m, note, reasons, extra_errors)
FROM STDIN (FORMAT BINARY)
