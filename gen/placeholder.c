/* placeholder.c - keeps the gen library non-empty until its sources land. */
int vf_gen_placeholder(void);
int vf_gen_placeholder(void) { return 0; }
