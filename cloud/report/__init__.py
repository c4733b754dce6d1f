"""The final PDF report: figures gathered from the warehouse and the bench results, charts, tables, a summary."""
