"""Files (上传文件): uploads checked by their content and size, stored under random names, never executed."""
