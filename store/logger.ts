// What the store and the actors log through: pino's shape (an object of fields, then the message), so
// a pino logger fits as it is and a test can pass a plain object that records the lines.
export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
