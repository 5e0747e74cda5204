"""一网通办 applications (办件): filing, intake, parallel approval by branch, corrections,
certificates on approval and ratings at the end."""
