-- Template image builds: status and logs per template version (issue 7). Reserved; filled in by that work.
SELECT 1;
