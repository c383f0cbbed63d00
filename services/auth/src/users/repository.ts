import { randomUUID } from 'node:crypto';
import { ensureIndexes, isDuplicateKey, ProblemError } from '@journal/shared';
import type { Db } from 'mongodb';

/** A user as stored. `usernameLower` carries the case-insensitive uniqueness (no collation). */
export interface UserDoc {
  _id: string;
  username: string;
  usernameLower: string;
  passwordHash: string;
  createdAt: Date;
  passwordChangedAt: Date;
}

export type PublicUser = Pick<UserDoc, '_id' | 'username' | 'createdAt'>;

const PUBLIC = { projection: { _id: 1, username: 1, createdAt: 1 } } as const;

/** Usernames are ASCII (`[A-Za-z0-9._@-]`), so lower-casing is the whole normalisation. */
export function normaliseUsername(username: string): string {
  return username.toLowerCase();
}

export function createUsersRepository(db: Db) {
  const users = db.collection<UserDoc>('users');

  return {
    async ensureIndexes() {
      await ensureIndexes(users, [
        { key: { usernameLower: 1 }, name: 'usernameLower_unique', unique: true },
      ]);
    },

    /** Inserts a new user; 409 username_taken when the name exists in any letter case. */
    async create(username: string, passwordHash: string): Promise<PublicUser> {
      const now = new Date();
      const doc: UserDoc = {
        _id: randomUUID(),
        username,
        usernameLower: normaliseUsername(username),
        passwordHash,
        createdAt: now,
        passwordChangedAt: now,
      };
      try {
        await users.insertOne(doc);
      } catch (err) {
        if (isDuplicateKey(err)) {
          throw new ProblemError('username_taken', 'that username is taken');
        }
        throw err;
      }
      return { _id: doc._id, username: doc.username, createdAt: doc.createdAt };
    },

    findForLogin(username: string) {
      return users.findOne(
        { usernameLower: normaliseUsername(username) },
        { projection: { _id: 1, username: 1, createdAt: 1, passwordHash: 1 } },
      );
    },

    findById(id: string): Promise<PublicUser | null> {
      return users.findOne({ _id: id }, PUBLIC);
    },

    /** The user with its password hash (password change, account deletion). */
    findWithHash(id: string) {
      return users.findOne(
        { _id: id },
        { projection: { _id: 1, username: 1, usernameLower: 1, createdAt: 1, passwordHash: 1 } },
      );
    },

    /**
     * Sets a new password if the hash is still the one that was verified: of two concurrent
     * changes at most one matches. False when the hash changed meanwhile.
     */
    async changePassword(id: string, oldHash: string, newHash: string): Promise<boolean> {
      const result = await users.updateOne(
        { _id: id, passwordHash: oldHash },
        { $set: { passwordHash: newHash, passwordChangedAt: new Date() } },
      );
      return result.modifiedCount === 1;
    },

    /** Removes the user: the credentials stop working and the username is free at once. */
    async deleteById(id: string): Promise<void> {
      await users.deleteOne({ _id: id });
    },

    /** Replaces the hash only if it is still the one that was verified (no lost update). */
    async replaceHash(id: string, oldHash: string, newHash: string): Promise<boolean> {
      const result = await users.updateOne(
        { _id: id, passwordHash: oldHash },
        { $set: { passwordHash: newHash } },
      );
      return result.modifiedCount === 1;
    },
  };
}

export type UsersRepository = ReturnType<typeof createUsersRepository>;
