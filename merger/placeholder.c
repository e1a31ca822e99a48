/* placeholder.c - keeps the merger library non-empty until its sources land. */
int vf_merger_placeholder(void);
int vf_merger_placeholder(void) { return 0; }
