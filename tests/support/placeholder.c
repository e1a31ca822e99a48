/* placeholder.c - until the fault-injecting I/O lands. */
int vf_test_support_placeholder(void);
int vf_test_support_placeholder(void) { return 0; }
