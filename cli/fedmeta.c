/* cli/fedmeta.c: placeholder main (being written). */
#include <stdio.h>
int main(void) { fprintf(stderr, "fedmeta: not built yet\n"); return 2; }
