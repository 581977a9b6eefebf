// The speaker scenarios live in lab/ (shared with the speaker benchmark); one copy.
export * from '../../../lab/speaker-scenarios.js';
