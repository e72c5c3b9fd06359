/* The pod sandbox's process for k8sfs's own pause image: it sleeps until
 * SIGINT or SIGTERM and, as PID 1 of a pod with a shared PID namespace,
 * reaps the children it inherits. Built static with the system's C
 * compiler, so images need no Go. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction on_stop = {0}, on_child = {0};
  on_stop.sa_handler = stop;
  on_child.sa_handler = reap;
  on_child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGINT, &on_stop, NULL) || sigaction(SIGTERM, &on_stop, NULL) ||
      sigaction(SIGCHLD, &on_child, NULL)) {
    return 1;
  }
  for (;;) pause();
}
