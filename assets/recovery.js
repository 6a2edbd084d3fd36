// The script of /reset-password and /verify-email: nothing happens until the button is pressed
// (mail scanners open links), then the token is read from the address bar and sent to the API.
/* global document, window, fetch, URLSearchParams */
'use strict'

;(function () {
  const form = document.querySelector('form')
  const status = document.getElementById('status')
  const button = form.querySelector('button')
  const page = document.body.dataset.page

  function show (text, kind) {
    status.textContent = text
    status.className = kind
  }

  async function send (url, body) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
      credentials: 'omit'
    })
    if (res.status === 204) return null
    let detail = 'Something went wrong (HTTP ' + res.status + '). Try again later.'
    try {
      const problem = await res.json()
      if (problem.errors && problem.errors.length > 0) {
        detail = problem.errors.map(function (e) { return 'The new password ' + e.message + '.' }).join(' ')
      } else if (problem.detail) {
        detail = problem.detail + '.'
      }
    } catch (err) {
      // Not JSON: keep the generic sentence.
    }
    return detail
  }

  form.addEventListener('submit', async function (event) {
    event.preventDefault()
    const token = new URLSearchParams(window.location.search).get('token')
    if (!token) {
      show('This link has no token. Open the link from the mail again.', 'error')
      return
    }
    let url = '/auth/email/verify'
    const body = { token }
    if (page === 'reset') {
      const password = document.getElementById('new-password').value
      if (password !== document.getElementById('repeat-password').value) {
        show('The two passwords are not the same.', 'error')
        return
      }
      url = '/auth/password/reset'
      body.new_password = password
    }
    button.disabled = true
    show('Sending…', '')
    try {
      const error = await send(url, body)
      if (error === null) {
        form.hidden = true
        show(page === 'reset'
          ? 'Your password has been changed. You can now sign in with the new password.'
          : 'Your email address is verified. You can close this page.', 'ok')
      } else {
        show(error, 'error')
      }
    } catch (err) {
      show('The server could not be reached. Check your connection and try again.', 'error')
    } finally {
      button.disabled = false
    }
  })
})()
