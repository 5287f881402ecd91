"""Reports computed from the data (never typed in), with their zh-CN column headings."""
