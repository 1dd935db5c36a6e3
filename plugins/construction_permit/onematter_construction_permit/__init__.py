"""OneMatter Hub connector for 住房和城乡建设局."""
