import type { Socket } from 'node:net';

/** Pipes two sockets both ways; either end closing or failing closes the other. */
export function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const closeBoth = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', closeBoth);
  b.on('error', closeBoth);
  a.on('close', closeBoth);
  b.on('close', closeBoth);
}
