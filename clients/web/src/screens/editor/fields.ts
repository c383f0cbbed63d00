import { field, h, uid } from '../../dom.js';
import { type EntryContent, MOODS, type Photo, parseTags } from '../../model.js';

/** The editor's text fields and mood choice: filled from content, read back as content. */
export function entryFields(initial: EntryContent) {
  let base = initial;
  const title = field('Title', h('input', { name: 'title', value: base.title, maxlength: 200 }));
  const body = field(
    'What happened today?',
    h('textarea', { name: 'body', rows: 10, value: base.body }),
  );
  const tags = field(
    'Tags',
    h('input', { name: 'tags', value: base.tags.join(', '), autocomplete: 'off' }),
    'Separate tags with commas, e.g. family, travel',
  );
  const moodName = uid('mood');
  const moodInputs = MOODS.map((m) =>
    h('input', {
      type: 'radio',
      name: moodName,
      value: m.value,
      id: `${moodName}-${m.value}`,
      checked: base.mood === m.value,
    }),
  );
  const moods = h(
    'fieldset',
    { class: 'moods' },
    h('legend', null, 'Mood'),
    MOODS.map((m, i) =>
      h(
        'label',
        { for: `${moodName}-${m.value}`, class: 'mood-choice' },
        moodInputs[i],
        h('span', { 'aria-hidden': 'true', class: 'mood-emoji' }, m.emoji),
        h('span', null, m.label),
      ),
    ),
  );

  return {
    title,
    body,
    tags,
    moods,
    /** Every input whose edits count as a change. */
    inputs: [title.input, body.input, tags.input, ...moodInputs],
    get base(): EntryContent {
      return base;
    },
    read(photos: Photo[]): EntryContent {
      return {
        title: title.input.value,
        body: body.input.value,
        mood: moodInputs.find((i) => i.checked)?.value ?? '',
        tags: parseTags(tags.input.value),
        photos,
        createdAt: base.createdAt,
      };
    },
    fill(c: EntryContent) {
      base = c;
      title.input.value = c.title;
      body.input.value = c.body;
      tags.input.value = c.tags.join(', ');
      for (const i of moodInputs) i.checked = i.value === c.mood;
    },
  };
}
