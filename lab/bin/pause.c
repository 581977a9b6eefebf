/* The lab's sandbox ("pause") container: holds a Pod's namespaces open and, as PID 1 of
 * a Pod that shares its process namespace, reaps orphans. Exits on SIGINT/SIGTERM. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig) { _exit(128 + sig); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &q, 0) < 0 || sigaction(SIGTERM, &q, 0) < 0 || sigaction(SIGCHLD, &r, 0) < 0)
    return 1;
  for (;;) pause();
}
