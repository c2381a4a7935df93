"""DICOM knowledge with no Kedro import: sniffing, metadata flattening, pixel rendering."""
