import { client, safeBlobType } from '../../client.js';
import { h, replace } from '../../dom.js';
import { explain } from '../../errors.js';
import { type Photo, photoUrl } from '../../model.js';
import { newId } from './ids.js';

/**
 * The entry's photos: thumbnails with a remove button, and a picker that uploads each chosen
 * picture as an attachment. `onChange` runs after every addition or removal.
 */
export function photoPicker(initial: Photo[], onChange: () => void) {
  let photos = [...initial];
  const error = h('p', { class: 'field-error', id: 'photo-error', 'aria-live': 'polite' });
  const fileInput = h('input', {
    type: 'file',
    accept: 'image/*',
    multiple: true,
    id: 'photo-input',
    class: 'visually-hidden-file',
    'aria-describedby': 'photo-error',
  });
  const list = h('ul', { class: 'photos', 'aria-label': 'Photos' });

  function draw() {
    replace(
      list,
      photos.map((p, i) => {
        const img = h('img', { alt: `Photo ${i + 1}`, class: 'photo', width: 96, height: 96 });
        photoUrl(p.id).then(
          (u) => {
            img.src = u;
          },
          () => img.classList.add('broken'),
        );
        const removeButton = h(
          'button',
          {
            type: 'button',
            class: 'remove-photo',
            'aria-label': `Remove photo ${i + 1}`,
            onclick: () => {
              photos = photos.filter((x) => x.id !== p.id);
              draw();
              onChange();
            },
          },
          '×',
        );
        return h('li', null, img, removeButton);
      }),
    );
  }

  fileInput.addEventListener('change', async () => {
    error.textContent = '';
    const files = [...(fileInput.files ?? [])];
    fileInput.value = '';
    for (const file of files) {
      // Raster pictures only: an SVG can carry script, so it is refused as a photo.
      if (!safeBlobType(file.type).startsWith('image/')) {
        error.textContent = `“${file.name}” is not a picture (use JPEG, PNG, GIF, WebP…).`;
        continue;
      }
      const attId = newId();
      error.textContent = `Uploading ${file.name}…`;
      try {
        await client.attachments.upload(attId, file, { contentType: file.type });
        photos = [...photos, { id: attId, contentType: file.type }];
        error.textContent = '';
        draw();
        onChange();
      } catch (err) {
        error.textContent = `${file.name} was not added. ${explain(err)}`;
      }
    }
  });

  const el = h(
    'div',
    { class: 'field' },
    h('span', { class: 'label' }, 'Photos'),
    list,
    fileInput,
    h(
      'label',
      { for: 'photo-input', class: 'button file-button' },
      h('span', { 'aria-hidden': 'true' }, '+'),
      ' Add photos',
    ),
    error,
  );
  draw();
  return {
    el,
    get photos(): Photo[] {
      return photos;
    },
    set(next: Photo[]) {
      photos = [...next];
      draw();
    },
  };
}
