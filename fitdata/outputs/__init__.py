"""What leaves a page as a file: the service report (HTML, PDF, XLSX) and exports."""
