"""Areas and departments (行政区划 / 网格, 部门): the administrative hierarchy city → district →
street → community → grid, its boundaries, the point → grid look-up, and organisation units."""
