"""OneMatter Hub connector for 生态环境局."""
